import pytest
import timm
import torch

from detector.ml.architectures import UnknownArchitectureError, create_model
from detector.ml.pretrained import (
    LITE0_TENSOR_COUNT,
    PretrainedWeightsError,
    lite0_weights_path,
    load_lite0_source_state_dict,
    map_lite0_state_dict,
)


@pytest.fixture(scope="module")
def source_state():
    return load_lite0_source_state_dict()


@pytest.fixture(scope="module")
def timm_state():
    return timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1).state_dict()


def test_weights_file_ships_with_the_package():
    path = lite0_weights_path()
    assert path.is_file() and path.suffix == ".pth"


def test_mapping_covers_every_tensor_with_equal_shapes(source_state, timm_state):
    mapped = map_lite0_state_dict(source_state, timm_state)
    assert len(mapped) == LITE0_TENSOR_COUNT == 294
    expected = [k for k in timm_state if not k.startswith("classifier.")]
    assert list(mapped) == expected
    for name, tensor in mapped.items():
        assert tensor.shape == timm_state[name].shape, name
    # Spot-check the positional mapping at both ends.
    assert torch.equal(mapped["conv_stem.weight"], source_state["_conv_stem.weight"])
    assert torch.equal(mapped["bn2.running_var"], source_state["_bn1.running_var"])


def test_pretrained_model_holds_the_shipped_weights(source_state):
    model = create_model("efficientnet_lite0", pretrained=True)
    state = model.state_dict()
    assert torch.equal(state["blocks.6.0.conv_pw.weight"], source_state["_blocks.15._expand_conv.weight"])
    assert state["classifier.weight"].shape == (1, 1280)


def test_wrong_shape_raises_clear_error(source_state, timm_state):
    broken = dict(source_state)
    broken["_blocks.3._depthwise_conv.weight"] = torch.zeros(7, 1, 3, 3)
    with pytest.raises(PretrainedWeightsError, match=r"shape mismatch.*_blocks\.3\._depthwise_conv\.weight"):
        map_lite0_state_dict(broken, timm_state)


def test_wrong_tensor_count_raises(source_state, timm_state):
    fewer = dict(list(source_state.items())[1:])
    with pytest.raises(PretrainedWeightsError, match="cannot be mapped by position"):
        map_lite0_state_dict(fewer, timm_state)


def test_other_arch_has_no_offline_weights():
    with pytest.raises(UnknownArchitectureError, match="only 'efficientnet_lite0' has them"):
        create_model("resnet10t", pretrained=True)
    model = create_model("resnet10t", pretrained=False)
    assert model.get_classifier().out_features == 1


def test_unknown_arch_is_rejected():
    with pytest.raises(UnknownArchitectureError, match="no such model"):
        create_model("efficientnet_lite9000")
