"""Artifact types of this project (stored in ML Metadata by these names; KFP v2
needs a "namespace.Name" type name)."""
from tfx.types.artifact import Artifact


class IngestReport(Artifact):
    """ingest_report.json: totals and every skipped file with its reason."""
    TYPE_NAME = "wavegan.IngestReport"


class LabelVocabulary(Artifact):
    """labels.txt: one label name per line; line number = integer label."""
    TYPE_NAME = "wavegan.LabelVocabulary"


class Judge(Artifact):
    """judge.keras + judge.json: the audio classifier that scores models of one data set."""
    TYPE_NAME = "wavegan.Judge"
