"""TFDV statistics of the blanked copy: each column's type and numeric range.

`generate_statistics_from_csv` infers types with tfx_bsl's CSV type inferrer,
the same one CsvExampleGen uses, so the type here is the type the pipeline
will see (INT for integers, FLOAT for any decimal number, STRING otherwise; a
column blank in every row has no values and is reported as STRING).
"""
import dataclasses
from typing import Optional

INT, FLOAT, STRING = "INT", "FLOAT", "STRING"


@dataclasses.dataclass(frozen=True)
class ColumnStats:
    """TFDV's facts about one column (numbers only for INT/FLOAT)."""
    name: str
    type: str
    present: int
    min: Optional[float] = None
    max: Optional[float] = None
    mean: Optional[float] = None
    std: Optional[float] = None


def column_stats(csv_path: str) -> tuple[int, dict[str, ColumnStats]]:
    """(number of rows, column name -> ColumnStats) from TFDV on `csv_path`."""
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    names = {statistics_pb2.FeatureNameStatistics.INT: INT,
             statistics_pb2.FeatureNameStatistics.FLOAT: FLOAT,
             statistics_pb2.FeatureNameStatistics.STRING: STRING}
    dataset = tfdv.generate_statistics_from_csv(csv_path).datasets[0]
    columns = {}
    for feature in dataset.features:
        name = feature.path.step[0]
        kind = names.get(feature.type, STRING)
        if feature.HasField("num_stats"):
            num = feature.num_stats
            columns[name] = ColumnStats(
                name, kind, num.common_stats.num_non_missing, num.min,
                num.max, num.mean, num.std_dev)
        else:
            columns[name] = ColumnStats(
                name, kind, feature.string_stats.common_stats.num_non_missing)
    return dataset.num_examples, columns
