"""Hand a compiled pipeline to Kubeflow Pipelines (submit, schedule) or to a k8s CronJob."""
