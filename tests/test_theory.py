"""The worked theory agrees with torch for every formula the deck shows."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reportgen import theory


@pytest.mark.parametrize("padding,stride", [(0, 1), (1, 1), (2, 1), (1, 2)])
def test_conv_by_hand_equals_torch(padding, stride):
    g = torch.Generator().manual_seed(padding * 10 + stride)
    image = torch.randint(-5, 6, (5, 7), generator=g).double()
    kernel = torch.randint(-3, 4, (3, 3), generator=g).double()
    values, terms = theory.conv2d_by_hand(image.tolist(), kernel.tolist(), padding, stride)
    expected = F.conv2d(image[None, None], kernel[None, None], padding=padding, stride=stride)[0, 0]
    assert torch.equal(torch.tensor(values, dtype=torch.float64), expected)
    assert terms[0][0].endswith(f"= {expected[0, 0].item():g}")


def test_laplacian_example_cell():
    image = [[3, 1, 0, 2, 5], [0, 4, 6, 1, 2], [2, 2, 1, 0, 3]]
    laplacian = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    values, terms = theory.conv2d_by_hand(image, laplacian, padding=1)
    # Centre cell (1,1): up 1 + left 0 + right 6 + down 2 - 4*4 = -7
    assert values[1][1] == -7
    assert terms[1][1] == "1·1 + 1·0 − 4·4 + 1·6 + 1·2 = -7"


def test_max_pool_by_hand_equals_torch():
    grid = torch.randint(0, 20, (6, 6), generator=torch.Generator().manual_seed(1)).double()
    pooled, winners = theory.max_pool_by_hand(grid.tolist())
    assert torch.equal(torch.tensor(pooled, dtype=torch.float64), F.max_pool2d(grid[None, None], 2)[0, 0])
    assert len(winners) == 9
    for n, (i, j) in enumerate(winners):
        assert grid[i, j] == pooled[n // 3][n % 3]
        assert (i // 2, j // 2) == (n // 3, n % 3)


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
def test_same_padding_keeps_size(kernel):
    p = theory.same_padding(kernel)
    out = F.conv2d(torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, kernel, kernel), padding=p)
    assert out.shape[-1] == 28 == theory.conv_output_size(28, kernel, p)


def test_same_padding_refuses_even_kernel():
    with pytest.raises(ValueError):
        theory.same_padding(4)


@pytest.mark.parametrize("size,kernel,padding,stride", [(28, 3, 0, 1), (28, 5, 2, 1), (27, 3, 1, 2), (13, 2, 0, 2)])
def test_output_size_equals_torch(size, kernel, padding, stride):
    out = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel), padding=padding, stride=stride)
    assert theory.conv_output_size(size, kernel, padding, stride) == out.shape[-1]


@pytest.mark.parametrize("k,c_in,c_out", [(3, 1, 32), (3, 32, 64), (5, 64, 128)])
def test_param_formulas_equal_numel(k, c_in, c_out):
    conv = nn.Conv2d(c_in, c_out, k)
    assert theory.conv_params(k, c_in, c_out) == sum(p.numel() for p in conv.parameters())
    fc = nn.Linear(c_in * 10, c_out)
    assert theory.linear_params(c_in * 10, c_out) == sum(p.numel() for p in fc.parameters())
