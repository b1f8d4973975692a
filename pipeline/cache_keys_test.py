"""Cache keys: code digests per consumer, stamped facts, the schema's content.

Edits happen in a temporary copy of the project's packages (the module is
pointed at it through `cache_keys.PROJECT_DIR`), so the checkout is never
touched; digests are read off the nodes `create_pipeline` really builds.
"""
import shutil

import pytest
from tfx.dsl.compiler import compiler

from pipeline import cache_keys, dsl
from pipeline.configs import DEFAULT_SCHEMA, taxi_config
from pipeline.pipeline import create_pipeline

CODE = "code_version"
OUR_COMPONENTS = ("AnomalyGate", "ServedBefore", "DriftCheck", "ServedBaseline",
                  "Evaluator", "Quantizer",
                  "Pusher")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project's packages that `code_digest` reads instead."""
    root = tmp_path / "project"
    for package in cache_keys.PROJECT_PACKAGES:
        shutil.copytree(cache_keys.PROJECT_DIR / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache_keys, "PROJECT_DIR", root)
    return root


def _config(tmp_path, **overrides):
    return taxi_config(str(tmp_path / "root"), str(tmp_path / "serving"),
                       **overrides)


def _code_keys(tmp_path):
    """{node id: code_version} as create_pipeline stamps them."""
    pipeline = create_pipeline(_config(tmp_path))
    return {node.id: node.exec_properties[CODE]
            for node in pipeline.components if CODE in node.exec_properties}


def _edit(path, text="\n# an edit\n"):
    with open(path, "a") as f:
        f.write(text)


def _changed(before, after):
    return sorted(node for node in before if before[node] != after[node])


def test_every_step_running_our_code_is_keyed_on_it(project, tmp_path):
    assert set(_code_keys(tmp_path)) == {"Transform", "Trainer",
                                         *OUR_COMPONENTS}


def test_a_recipe_edit_re_trains_and_does_not_re_transform(project, tmp_path):
    before = _code_keys(tmp_path)
    _edit(project / "modules" / "recipes" / "prune.py")
    assert _changed(before, _code_keys(tmp_path)) == ["Trainer"]


def test_a_new_module_file_re_trains(project, tmp_path):
    # run_fn finds recipes at run time: all of modules/ is the Trainer's code.
    before = _code_keys(tmp_path)
    (project / "modules" / "recipes" / "quantize_aware.py").write_text(
        "RECIPE = 'qat'\n")
    assert _changed(before, _code_keys(tmp_path)) == ["Trainer"]


@pytest.mark.parametrize("edited", ["taxi/preprocessing.py",
                                    "taxi/features.py", "transforms.py"])
def test_a_feature_edit_re_transforms_and_re_trains(project, tmp_path,
                                                    edited):
    # The taxi project's preprocessing_fn, the feature contract it reads and
    # the TF helpers it builds on (modules/transforms.py).
    before = _code_keys(tmp_path)
    _edit(project / "modules" / edited)
    assert _changed(before, _code_keys(tmp_path)) == ["Trainer", "Transform"]


def test_a_layout_edit_re_runs_the_components_that_read_versions(
        project, tmp_path):
    before = _code_keys(tmp_path)
    _edit(project / "serving" / "layout.py")
    # The Trainer too: its export writes the serving inputs' missing-value
    # markers into the model with serving.layout (modules/signatures.py).
    assert _changed(before, _code_keys(tmp_path)) == [
        "DriftCheck", "Evaluator", "Pusher", "ServedBaseline", "ServedBefore",
        "Trainer"]


def test_a_component_edit_re_runs_that_component_only(project, tmp_path):
    before = _code_keys(tmp_path)
    _edit(project / "components" / "pusher" / "publish.py")
    assert _changed(before, _code_keys(tmp_path)) == ["Pusher"]


@pytest.mark.parametrize("unrelated", [
    "serving/http.py",                        # the model server
    "pipeline/local_runner.py",               # how, not what, runs
    "components/pusher/executor_test.py",     # a test beside the code
    "modules/recipes/no_such_test.py",        # a test under modules/
])
def test_an_unrelated_edit_changes_no_key(project, tmp_path, unrelated):
    before = _code_keys(tmp_path)
    path = project / unrelated
    if path.exists():
        _edit(path)
    else:
        path.write_text("def test_x():\n    pass\n")
    assert _changed(before, _code_keys(tmp_path)) == []


def test_transform_key_does_not_cover_recipes_but_trainer_key_does(
        project, tmp_path):
    preprocessing_fn = _config(tmp_path).preprocessing_fn
    assert preprocessing_fn == "modules.taxi.preprocessing.preprocessing_fn"
    transform = cache_keys.code_files(preprocessing_fn.rpartition(".")[0])
    assert "modules/taxi/preprocessing.py" in transform
    assert "modules/taxi/features.py" in transform
    assert "modules/transforms.py" in transform
    assert not any(path.startswith("modules/recipes/") for path in transform)
    # The Trainer's entry module imports the recipes inside a function.
    assert "modules/recipes/prune.py" in cache_keys.code_files(
        "modules.trainer")


def test_imports_are_followed_however_they_are_written(project):
    package = project / "components" / "fake"
    package.mkdir()
    # Runs whenever a submodule is imported, though nothing names it.
    (package / "__init__.py").write_text("REGISTRY = {}\n")
    (package / "entry.py").write_text(
        "import os\n"
        "from .sibling import X\n"                      # relative module
        "from ..quantizer.score import auc\n"           # two levels up
        "from components.other import leaf\n"          # a submodule by name
        "from serving import layout as _layout\n"       # absolute
        "def run():\n"
        "    from modules.recipes import distill\n"     # lazy, in a function
        "    import tensorflow\n")                      # not ours
    (package / "sibling.py").write_text("X = 1\n")
    (project / "components" / "other").mkdir()
    (project / "components" / "other" / "__init__.py").write_text("")
    (project / "components" / "other" / "leaf.py").write_text("Y = 2\n")
    files = cache_keys.code_files("components.fake.entry")
    assert {"components/fake/__init__.py", "components/fake/entry.py",
            "components/fake/sibling.py", "components/quantizer/score.py",
            "components/other/leaf.py", "serving/layout.py",
            "modules/recipes/distill.py",
            "modules/recipes/__init__.py"} <= set(files)
    assert "serving/http.py" not in files  # a sibling nobody imports
    before = cache_keys.code_digest("components.fake.entry")
    _edit(project / "components" / "quantizer" / "score.py")
    assert cache_keys.code_digest("components.fake.entry") != before


# --- stamp ----------------------------------------------------------------------

def _compiled_parameters(pipeline):
    ir = compiler.Compiler().compile(pipeline)
    return {node.pipeline_node.node_info.id: {
        key: value.field_value.string_value for key, value in
        node.pipeline_node.parameters.parameters.items()} for node in ir.nodes}


def test_stamped_facts_are_node_parameters_in_the_compiled_ir(tmp_path):
    pipeline = create_pipeline(_config(tmp_path))
    nodes = {node.id: node for node in pipeline.components}
    parameters = _compiled_parameters(pipeline)
    for node_id in ("Transform", "Trainer", *OUR_COMPONENTS):
        assert parameters[node_id][CODE] == nodes[node_id].exec_properties[CODE]
        assert len(parameters[node_id][CODE]) == 16
    assert parameters["ImportSchemaGen"]["schema_digest"] == (
        cache_keys.file_digest(str(DEFAULT_SCHEMA)))
    # Facts are per node: Transform and Trainer cover different code.
    assert parameters["Transform"][CODE] != parameters["Trainer"][CODE]


def test_stamp_adds_facts_and_refuses_to_change_a_property(tmp_path):
    node = dsl.ImportSchemaGen(schema_file=str(DEFAULT_SCHEMA))
    assert cache_keys.stamp(node, fact="1", other="2") is node
    assert node.exec_properties["fact"] == "1"
    assert node.exec_properties["other"] == "2"
    cache_keys.stamp(node, fact="1")  # the same value again is fine
    with pytest.raises(ValueError, match="fact"):
        cache_keys.stamp(node, fact="3")
    with pytest.raises(ValueError, match="schema_file"):
        cache_keys.stamp(node, schema_file="/elsewhere/schema.pbtxt")
    assert node.exec_properties["schema_file"] == str(DEFAULT_SCHEMA)


# --- the schema's content ---------------------------------------------------------

def _schema_key(tmp_path, schema_path):
    pipeline = create_pipeline(_config(tmp_path, schema_path=schema_path))
    return _compiled_parameters(pipeline)["ImportSchemaGen"]


def test_an_edited_schema_at_the_same_path_changes_the_key(tmp_path):
    schema = tmp_path / "my_schema.pbtxt"
    shutil.copy(DEFAULT_SCHEMA, schema)
    first = _schema_key(tmp_path, str(schema))
    assert first["schema_file"] == str(schema)

    shutil.copy(DEFAULT_SCHEMA, schema)  # rewritten, same content
    assert _schema_key(tmp_path, str(schema)) == first

    # What the AnomalyGate tells a user to do: accept a new category.
    text = schema.read_text()
    assert 'name: "payment_type"' in text
    schema.write_text(text + '\nstring_domain { name: "extra" value: "Bitcoin" }\n')
    edited = _schema_key(tmp_path, str(schema))
    assert edited["schema_file"] == first["schema_file"]
    assert edited["schema_digest"] != first["schema_digest"]
    assert edited["schema_digest"] == cache_keys.file_digest(str(schema))
