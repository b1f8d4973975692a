"""CsvExampleGen with null tokens (`NA`, `null`, ...) read as blank cells."""
from components.csv_example_gen.component import CsvExampleGen
from components.csv_example_gen.executor import NULL_VALUES_KEY

__all__ = ["CsvExampleGen", "NULL_VALUES_KEY"]
