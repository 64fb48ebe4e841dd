"""Label quality: geometry of Supervisely objects, scoring of one annotation against another, consensus."""

from labelrounds.quality.consensus import (
    AgreementTables,
    ImageAgreement,
    agreement_tables,
    agreement_with_consensus,
    image_agreement,
    merge_annotations,
    merge_many,
    pairwise_agreement,
)
from labelrounds.quality.geometry import GeometryError, Region, decode_bitmap, encode_bitmap, iou, iou_matrix
from labelrounds.quality.scoring import (
    ObjectMatch,
    ParsedAnnotation,
    QualityScore,
    aggregate,
    match_objects,
    parse_annotation,
    score_annotations,
    score_many,
)

__all__ = [
    "AgreementTables",
    "ImageAgreement",
    "agreement_tables",
    "agreement_with_consensus",
    "image_agreement",
    "merge_annotations",
    "merge_many",
    "pairwise_agreement",
    "GeometryError",
    "ObjectMatch",
    "ParsedAnnotation",
    "QualityScore",
    "Region",
    "aggregate",
    "decode_bitmap",
    "encode_bitmap",
    "iou",
    "iou_matrix",
    "match_objects",
    "parse_annotation",
    "score_annotations",
    "score_many",
]
