"""`score_many` decodes a bitmap `data` string once per call (`MaskCache`): scores against a Pillow-painted oracle.

Oracle: every mask decoded by Pillow's own PNG reader (not the module's decoder), painted on a canvas at its
origin, IoU counted on the canvas. Each image has one object per class, so the matching is known without the
module: a pair matches when its painted IoU reaches the threshold.
"""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from labelrounds.quality import encode_bitmap, score_many
from labelrounds.quality.geometry import MaskCache
from labelrounds.quality.scoring import DEFAULT_IOU_THRESHOLD, _parse_annotations

CANVAS = 400


def shapes(rng: np.random.Generator) -> list[str]:
    """A few encoded masks: ellipses (numpy decoder) and noise (Paeth rows: Pillow decoder)."""
    masks = []
    for rows, columns in [(30, 41), (52, 37), (25, 25)]:
        ys, xs = np.mgrid[0:rows, 0:columns]
        masks.append(
            ((xs + 0.5 - columns / 2) / (columns / 2)) ** 2 + ((ys + 0.5 - rows / 2) / (rows / 2)) ** 2 <= 1
        )
    masks.append(rng.random((33, 29)) < 0.7)
    return [encode_bitmap(mask) for mask in masks]


def bitmap(title: str, data: str, x: int, y: int) -> dict:
    """A bitmap object of class `title`."""
    return {
        "classTitle": title,
        "geometryType": "bitmap",
        "tags": [],
        "bitmap": {"data": data, "origin": [x, y]},
    }


def images_with_repeated_masks(seed: int, count: int) -> list[tuple[dict, dict]]:
    """Pairs whose objects reuse a handful of `data` strings at other origins, within and across images."""
    rng = np.random.default_rng(seed)
    datas = shapes(rng)
    pairs = []
    for _ in range(count):
        reference, candidate = [], []
        for title in ("a", "b", "c"):
            data = datas[int(rng.integers(len(datas)))]
            x, y = (int(v) for v in rng.integers(0, CANVAS - 60, 2))
            other = data if rng.random() < 0.8 else datas[int(rng.integers(len(datas)))]
            dx, dy = (int(v) for v in rng.integers(-6, 7, 2))
            reference.append(bitmap(title, data, x, y))
            candidate.append(bitmap(title, other, max(x + dx, 0), max(y + dy, 0)))
        pairs.append(({"objects": reference, "tags": []}, {"objects": candidate, "tags": []}))
    return pairs


def painted(obj: dict) -> np.ndarray:
    """Oracle: the object's mask as Pillow reads the PNG, painted on a canvas at its origin."""
    png = zlib.decompress(base64.b64decode(obj["bitmap"]["data"]))
    with Image.open(io.BytesIO(png)) as image:
        mask = np.asarray(image.convert("RGBA"))[..., 3] > 0
    x, y = obj["bitmap"]["origin"]
    canvas = np.zeros((CANVAS, CANVAS), dtype=bool)
    canvas[y : y + mask.shape[0], x : x + mask.shape[1]] = mask
    return canvas


def oracle_counts(pairs: list[tuple[dict, dict]]) -> tuple[int, float]:
    """Matched objects and the IoU sum of the matches, from the painted canvases (one object per class)."""
    matched, iou_sum = 0, 0.0
    for reference, candidate in pairs:
        for first, second in zip(reference["objects"], candidate["objects"], strict=True):
            a, b = painted(first), painted(second)
            iou = np.count_nonzero(a & b) / np.count_nonzero(a | b)
            if iou >= DEFAULT_IOU_THRESHOLD:
                matched, iou_sum = matched + 1, iou_sum + iou
    return matched, iou_sum


@pytest.mark.parametrize("max_bytes", [16_000_000, 1_000])
def test_repeated_masks_score_as_the_painted_oracle(max_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over more images than one batch, masks repeated at other origins (a cache large enough to keep them all,
    and one so small it keeps forgetting) score exactly as the Pillow-painted oracle."""
    monkeypatch.setattr("labelrounds.quality.scoring.MaskCache", lambda: MaskCache(max_bytes=max_bytes))
    pairs = images_with_repeated_masks(1, 150)
    matched, iou_sum = oracle_counts(pairs)
    score = score_many(pairs)
    assert matched > 200  # most jittered copies match: the comparison is not vacuous
    assert score.matched_objects == matched
    assert score.iou_sum == pytest.approx(iou_sum, abs=1e-9)


def kept_bytes(masks: MaskCache, datas: set[str]) -> int:
    """The bytes of pixel data that `masks` holds for `datas`."""
    return sum(len(cached[0]) for cached in map(masks.get, datas) if cached is not None)


def test_the_cache_stays_within_its_bound_and_the_oracle_refuses_a_wrong_cached_mask() -> None:
    """A roomy cache keeps every string across reads; one bounded below a read's pixel data is emptied by the
    next read (it holds at most its bound plus one read's worth). Mutant: a cache holding another shape's pixel
    data under a `data` string gives scores the oracle refuses."""
    pairs = images_with_repeated_masks(2, 40)
    flat = [annotation for pair in pairs for annotation in pair]
    datas = {obj["bitmap"]["data"] for annotation in flat for obj in annotation["objects"]}
    roomy = MaskCache()
    _parse_annotations(flat, roomy)
    assert all(roomy.get(data) is not None for data in datas)
    everything = kept_bytes(roomy, datas)
    tight = MaskCache(max_bytes=everything - 1)
    _parse_annotations(flat[:2], tight)
    first_read = set(tight)
    _parse_annotations(flat, tight)
    assert kept_bytes(tight, datas) == everything  # the second read kept what it read
    _parse_annotations(flat[-2:], tight)  # found past its bound: emptied, then holds this read's strings only
    assert set(tight) == {obj["bitmap"]["data"] for annotation in flat[-2:] for obj in annotation["objects"]}
    assert first_read and set(tight) <= datas
    data = pairs[0][0]["objects"][0]["bitmap"]["data"]
    other = next(candidate for candidate in datas if roomy[candidate][0] != roomy[data][0])
    poisoned = MaskCache()
    poisoned[data] = roomy[other]
    parsed = _parse_annotations([annotation for pair in pairs for annotation in pair], poisoned)
    wrong = score_many(list(zip(parsed[::2], parsed[1::2], strict=True)))
    matched, iou_sum = oracle_counts(pairs)
    assert (wrong.matched_objects, round(wrong.iou_sum, 9)) != (matched, round(iou_sum, 9))
