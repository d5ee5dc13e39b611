"""Maps from a photo: VitPose keypoints and depth through transformers (tiny models built from
config, loaded by the real code from a local folder), OpenCV edges, controlnet-aux detection."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio import page_inputs
from studio.backends.controlnet_aux_maps import DepthAuxEstimator, OpenposeAuxDetector
from studio.backends.edges import canny_map, lineart_map
from studio.book import ImageSpec, Page
from studio.config import Settings
from studio.services import build_services

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def tiny_detectors(tmp_path_factory):
    import torch
    from transformers import (
        DPTConfig, DPTForDepthEstimation, DPTImageProcessor, VitPoseBackboneConfig, VitPoseConfig,
        VitPoseForPoseEstimation, VitPoseImageProcessor,
    )

    root = tmp_path_factory.mktemp("detectors")
    torch.manual_seed(0)
    VitPoseForPoseEstimation(VitPoseConfig(num_labels=17, backbone_config=VitPoseBackboneConfig(
        image_size=[64, 48], patch_size=[16, 16], hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, out_indices=[2]))).save_pretrained(root / "vitpose")
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(root / "vitpose")
    DPTForDepthEstimation(DPTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37,
        backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[16, 16, 16, 16], fusion_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5], is_hybrid=False, head_in_index=-1)).save_pretrained(root / "depth")
    DPTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(root / "depth")
    return root


def _photo(path):
    img = Image.new("RGB", (120, 90), (235, 225, 205))
    draw = ImageDraw.Draw(img)
    draw.rectangle([30, 20, 90, 70], fill=(60, 90, 140))
    draw.ellipse([50, 5, 70, 25], fill=(200, 150, 120))
    img.save(path)
    return path


def test_pose_and_depth_from_a_photo_land_in_the_page(tiny_detectors, tmp_path):
    services = build_services(Settings(data_dir=tmp_path / "data", pose_model=str(tiny_detectors / "vitpose"),
                                       depth_model=str(tiny_detectors / "depth")))
    try:
        assert services.backends.active("pose_detector").name == "vitpose"
        book = services.store.create("local", "Photo", page_count=4)
        book = services.store.update("local", book.id, lambda b: b.pages.append(Page(image=ImageSpec(width=96, height=64))))
        page_id = book.pages[0].id
        with pytest.raises(ValueError, match="Upload a photo"):
            page_inputs.detect_pose(services, "local", book.id, page_id)
        page_inputs.set_page_photo(services, "local", book.id, page_id, _photo(tmp_path / "p.png"), "control")
        page = page_inputs.detect_pose(services, "local", book.id, page_id)
        pose = page.image.control.pose
        assert page.image.control.kind == "openpose" and len(pose["people"]) == 1 and len(pose["people"][0]) == 18
        assert page_inputs.current_pose(page) == pose  # the editor now shows the detected keypoints
        spec = ImageSpec.from_dict(page.image.to_dict())
        spec.control.kind = "depth"
        depth = page_inputs.control_map(services, page, spec, "local")
        assert depth.size == (96, 64) and depth.mode == "RGB"
        assert np.asarray(depth).max() == 255  # stretched to full range: near is white
    finally:
        services.close()


def test_without_detectors_the_message_says_what_to_set(services, tmp_path):
    from studio.backends.base import BackendError

    services.settings.pose_detector = "vitpose"  # the bundled MediaPipe detector: test_pose_mediapipe.py
    book = services.store.create("local", "No models", page_count=4)
    book = services.store.update("local", book.id, lambda b: b.pages.append(Page()))
    page_id = book.pages[0].id
    page_inputs.set_page_photo(services, "local", book.id, page_id, _photo(tmp_path / "p.png"), "control")
    with pytest.raises(BackendError, match="Finding a pose in a photo is not set up"):
        page_inputs.detect_pose(services, "local", book.id, page_id)
    page = services.store.get("local", book.id).page(page_id)
    spec = ImageSpec.from_dict(page.image.to_dict())
    spec.control.kind = "depth"
    with pytest.raises(BackendError, match="Finding depth in a photo is not set up"):
        page_inputs.control_map(services, page, spec, "local")
    assert page.image.control.pose is None  # nothing changed on the page
    rows = {(r.kind, r.name): r.availability.reason for r in services.backends.statuses()}
    assert rows[("pose_detector", "vitpose")] == "GIEOK_POSE_MODEL is not set"
    assert rows[("depth_estimator", "transformers_depth")] == "GIEOK_DEPTH_MODEL is not set"


def test_edges_are_white_lines_on_black(tmp_path):
    photo = Image.open(_photo(tmp_path / "e.png"))
    for make in (canny_map, lineart_map):
        edges = np.asarray(make(photo))
        assert edges.shape == (90, 120, 3)
        on = edges[..., 0] > 127
        assert 0.005 < on.mean() < 0.3, make.__name__  # lines, not a filled or empty picture
        assert on[20, 30:90].any() or on[19:22, 30:90].any()  # the rectangle's top edge is found


def test_controlnet_aux_is_optional_and_never_imported_to_check(monkeypatch):
    for cls in (OpenposeAuxDetector, DepthAuxEstimator):
        status = cls(Settings()).available()
        if not status.ok:
            assert "needs the packages" in status.reason and "torchvision" in status.reason
    assert "controlnet_aux" not in sys.modules
