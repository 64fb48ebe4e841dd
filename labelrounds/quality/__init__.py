"""Label quality: geometry of Supervisely objects and scoring of one annotation against another."""

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
