"""course_rnn.device: explicit argument > COURSE_RNN_DEVICE > CUDA if present > CPU."""

import pytest
import torch

from course_rnn.device import ENV_VAR, describe_device, get_device


def test_explicit_cpu_wins_over_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "cuda")
    assert get_device("cpu") == torch.device("cpu")


def test_environment_variable_chooses_cpu(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "CPU")
    assert get_device() == torch.device("cpu")


def test_default_is_cuda_exactly_when_available(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected


def test_torch_device_argument_is_accepted():
    assert get_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_spelling_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda' or 'cuda:N'"):
        get_device(bad)


def test_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "gpu")
    with pytest.raises(ValueError, match=ENV_VAR):
        get_device()


def test_non_string_argument_is_a_type_error():
    with pytest.raises(TypeError, match="torch.device"):
        get_device(3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda_fails_loudly(monkeypatch):
    with pytest.raises(RuntimeError, match="no CUDA device"):
        get_device("cuda")
    monkeypatch.setenv(ENV_VAR, "cuda:0")
    with pytest.raises(RuntimeError, match=ENV_VAR):
        get_device()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_beyond_device_count_fails():
    with pytest.raises(RuntimeError, match="CUDA device"):
        get_device(f"cuda:{torch.cuda.device_count()}")


def test_describe_device_names_cpu():
    assert describe_device("cpu") == "cpu"
