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


def test_cuda_request_without_cuda_fails_loudly(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without CUDA
    with pytest.raises(RuntimeError, match="no CUDA device"):
        get_device("cuda")
    monkeypatch.setenv(ENV_VAR, "cuda:0")
    with pytest.raises(RuntimeError, match=ENV_VAR):
        get_device()
    monkeypatch.delenv(ENV_VAR)
    assert get_device() == torch.device("cpu")


def test_cuda_index_beyond_device_count_fails(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with 2 GPUs
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert get_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(RuntimeError, match=r"only 2 CUDA device\(s\) exist \(indices 0..1\)"):
        get_device("cuda:2")
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert get_device() == torch.device("cuda")


def test_describe_device_names_cpu():
    assert describe_device("cpu") == "cpu"
