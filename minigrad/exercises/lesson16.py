"""Lesson 16's exercises: convolution as unfold plus matmul, its backward, and max-pool's backward.

A convolution of x (N, C, H, W) with w (O, C, kh, kw) is a matrix product once
every window of x is unfolded into a column:

    cols = unfold(x)                      (N, C kh kw, L)   L = OH OW windows
    y    = w.reshape(O, -1) @ cols + b    (N, O, L) -> (N, O, OH, OW)

so its backward is matmul's (lesson 3) followed by fold, unfold's adjoint,
which adds every column back onto the window it came from (overlaps add up):

    dw = sum_n g_n @ cols_n^T,  dcols = w^T g,  dx = fold(dcols),  db = sum of g

Max-pooling sends each window's gradient to the window's largest input; when
several inputs tie for the largest, torch picks the first of them in the
window (row by row), and so do these checks. The expected values are these
closed forms on plain tensors; the tests hold them against torch.autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.diagnoses import missing_chain_factor


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """How many windows fit along one side: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_closed_form(x, w, b, stride, padding):
    """F.conv2d by unfold and matmul (what the first exercise asks for), for the checks' use."""
    n, _, height, width = x.shape
    out, _, kh, kw = w.shape
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)
    rows = (output_size(height, kh, stride, padding), output_size(width, kw, stride, padding))
    y = (w.reshape(out, -1) @ cols).reshape(n, out, *rows)
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def conv_gradients(x, w, g, stride, padding):
    """(dx, dw, db) of the convolution, as unfold's matmul backward and fold."""
    n, _, height, width = x.shape
    out, _, kh, kw = w.shape
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)
    g_flat = g.reshape(n, out, -1)
    dw = (g_flat @ cols.transpose(1, 2)).sum(0).reshape(w.shape)
    dcols = w.reshape(out, -1).T @ g_flat
    dx = F.fold(dcols, (height, width), (kh, kw), padding=padding, stride=stride)
    return dx, dw, g.sum((0, 2, 3))


def last_window_wins(dcols, shape, kernel, stride, padding):
    """What a loop over the windows that *assigns* (not adds) each column's gradient gives."""
    n, channels, height, width = shape
    kh, kw = kernel
    padded = dcols.new_zeros(n, channels, height + 2 * padding, width + 2 * padding)
    cols_per_row = output_size(width, kw, stride, padding)
    for window in range(dcols.shape[-1]):
        top, left = (window // cols_per_row) * stride, (window % cols_per_row) * stride
        patch = dcols[:, :, window].reshape(n, channels, kh, kw)
        padded[:, :, top : top + kh, left : left + kw] = patch
    return padded[:, :, padding : padding + height, padding : padding + width]


# (N, C, H, W), (O, kh, kw), stride, padding: square and oblong, strided, padded, overlapping.
CONV_CASES = [
    ((2, 1, 5, 5), (3, 3, 3), 1, 0),
    ((1, 2, 6, 7), (2, 2, 3), 1, 1),
    ((3, 3, 7, 7), (4, 3, 3), 2, 1),
    ((2, 2, 6, 5), (1, 2, 2), 2, 0),
    ((1, 3, 5, 6), (3, 3, 2), 1, 2),
]


def conv_case(generator, case):
    (n, c, h, w_), (o, kh, kw), stride, padding = case
    x, w = draw(generator, n, c, h, w_), draw(generator, o, c, kh, kw)
    return x, w, draw(generator, o), stride, padding


def describe(x, w, stride, padding) -> str:
    return (
        f"x of shape {tuple(x.shape)}, w of shape {tuple(w.shape)}, stride {stride}, "
        f"padding {padding}"
    )


# -- the forward: unfold, then one matmul ----------------------------------------------


@exercise(
    "conv_unfold",
    lesson=16,
    title="convolution as unfold plus matmul",
    hints=(
        "torch.nn.functional.unfold(x, kernel_size, padding=..., stride=...) turns every "
        "window of x into one column of C * kh * kw numbers: the result is (N, C kh kw, L), "
        "one column per output position. Flatten each filter of w the same way, and every "
        "output value is one dot product of a filter with a column. Then put the L positions "
        "back into an (OH, OW) grid.",
        "Reshape w to (O, C kh kw); multiplying it by the columns gives (N, O, L) for the "
        "whole batch at once (matmul broadcasts over N). Reshape that to (N, O, OH, OW), "
        "with OH = floor((H + 2 padding - kh) / stride) + 1 and OW likewise, and add b as "
        "one number per output channel (dim 1).",
    ),
)
def check_conv_unfold(check: Check, conv2d_by_unfold) -> str:
    """``conv2d_by_unfold(x, w, b, stride, padding)`` must equal torch's conv2d on NCHW x."""
    generator = torch.Generator().manual_seed(16)
    for case in CONV_CASES:
        x, w, b, stride, padding = conv_case(generator, case)
        want = F.conv2d(x, w, b, stride, padding)
        without_bias = want - b.reshape(1, -1, 1, 1)
        n, out, rows, columns = want.shape
        mistakes = (
            Mistake(without_bias, "the bias is missing: add one number per output channel"),
            Mistake(F.conv2d(x, w.flip(-1, -2), b, stride, padding), "the kernel is flipped: "
                    "a network's convolution slides the filter as it is (a correlation); do not "
                    "rotate it"),
            Mistake(without_bias.reshape(n, out, -1).transpose(1, 2).reshape(want.shape)
                    + b.reshape(1, -1, 1, 1), "every value is there, in the wrong places: the "
                    "product was (N, L, O) and was reshaped as if it were (N, O, L)"),
            Mistake(F.conv2d(x, w, b, 1, padding), "that is the output for stride 1: the "
                    "windows must be taken every `stride` pixels"),
            Mistake(F.conv2d(x, w, b, stride, 0), "that is the output without padding: the "
                    "image must be padded with `padding` zeros on each side first"),
        )  # fmt: skip
        check.case = describe(x, w, stride, padding)
        received = check.call(
            conv2d_by_unfold, x, w, b, stride, padding, names=("x", "w", "b", "stride", "padding")
        )
        check.expect("the output", want, received, mistakes=mistakes)
    return f"equal to torch's conv2d on {len(CONV_CASES)} layers: strided, padded, oblong"


# -- the backward: three gradients -------------------------------------------------------


@exercise(
    "conv_backward",
    lesson=16,
    title="convolution's backward: input, weight and bias",
    hints=(
        "Forward was y = W cols + b with W = w flattened to (O, C kh kw): a matmul and a "
        "broadcast add, whose backward lesson 3 gave you. That yields dW and the gradient "
        "of the columns. Each column was copied out of one window of x, and windows overlap, "
        "so a pixel's gradient is the sum over every window it appeared in: put the columns "
        "back where they came from, adding.",
        "With g_flat = g reshaped to (N, O, L) and cols = unfold(x): dw is g_flat @ cols "
        "transposed, summed over the batch, reshaped to w's shape; dcols is W transposed @ "
        "g_flat; dx is torch.nn.functional.fold(dcols, (H, W), kernel, padding=..., stride=...) "
        "(fold adds overlapping entries); db sums g over the batch and both spatial axes.",
    ),
)
def check_conv_backward(check: Check, conv2d_backward) -> str:
    """``conv2d_backward(x, w, g, stride, padding)`` -> (dx, dw, db) for y = conv2d(x, w, b)."""
    generator = torch.Generator().manual_seed(160)
    for case in CONV_CASES:
        x, w, _, stride, padding = conv_case(generator, case)
        g = draw(generator, *F.conv2d(x, w, None, stride, padding).shape)
        dx, dw, db = conv_gradients(x, w, g, stride, padding)
        n, out = g.shape[:2]
        dcols = w.reshape(out, -1).T @ g.reshape(n, out, -1)
        x_mistakes = (
            Mistake(F.conv_transpose2d(g, w.flip(-1, -2), None, stride, padding,
                                       _extra(x, w, g, stride, padding)),
                    "the weights land mirrored: each output sends its gradient back onto the "
                    "very window it read, weight (0, 0) to the window's first pixel, so dx is "
                    "a full correlation of g with the kernel rotated by 180 degrees"),
            Mistake(last_window_wins(dcols, x.shape, w.shape[2:], stride, padding),
                    "where windows overlap, a pixel kept only the last window's gradient: it "
                    "was read by every window that covers it, so add them all up"),
        )  # fmt: skip
        w_mistakes = (
            Mistake(dw.flip(-1, -2), "the weight gradient is flipped: it is a plain "
                    "correlation of x with g, with no rotation"),
            missing_chain_factor(conv_gradients(x, w, torch.ones_like(g), stride, padding)[1]),
        )  # fmt: skip
        b_mistakes = (
            Mistake(g.sum(0), "the bias was added at every position too: sum over both "
                    "spatial axes as well as the batch"),
            Mistake(g.sum((2, 3)), "the bias was added to every example too: sum over the "
                    "batch as well as the spatial axes"),
        )  # fmt: skip
        batch = {n: "that is the mean over the batch: each example adds its whole gradient"}
        check.case = describe(x, w, stride, padding)
        received = check.call(
            conv2d_backward, x, w, g, stride, padding, names=("x", "w", "g", "stride", "padding")
        )
        got_x, got_w, got_b = check.expect_sequence(received, 3, "(dx, dw, db)")
        check.expect("dx", dx, got_x, mistakes=x_mistakes)
        check.expect("dw", dw, got_w, mistakes=w_mistakes, factors={1 / n: batch[n]})
        check.expect("db", db, got_b, mistakes=b_mistakes, factors={1 / n: batch[n]})
    return f"dx, dw and db are right on {len(CONV_CASES)} layers: strided, padded, overlapping"


def _extra(x, w, g, stride, padding) -> list[int]:
    """conv_transpose2d's output_padding that gives back x's exact height and width."""
    sizes = zip(x.shape[2:], g.shape[2:], w.shape[2:])
    return [size - ((o - 1) * stride - 2 * padding + k) for size, o, k in sizes]


# -- max-pool's backward, with ties ------------------------------------------------------------


def pool_windows(x, kernel, stride):
    """Every window of x as a column: (N, C, k*k, L), and the (OH, OW) grid they form."""
    n, channels, height, width = x.shape
    cols = F.unfold(x.reshape(n * channels, 1, height, width), kernel, stride=stride)
    grid = (output_size(height, kernel, stride, 0), output_size(width, kernel, stride, 0))
    return cols.reshape(n, channels, kernel * kernel, -1), grid


def pool_backward_by(weights, x, g, kernel, stride):
    """Spread each window's gradient over its inputs with ``weights`` (N, C, k*k, L), then fold."""
    n, channels, height, width = x.shape
    spread = weights * g.reshape(n, channels, 1, -1)
    flat = spread.reshape(n * channels, kernel * kernel, -1)
    folded = F.fold(flat, (height, width), kernel, stride=stride)
    return folded.reshape(x.shape)


def first_max(cols: torch.Tensor) -> torch.Tensor:
    """1 at the first largest entry of each window (argmax returns the first), 0 elsewhere."""
    winners = torch.zeros_like(cols)
    return winners.scatter_(2, cols.argmax(2, keepdim=True), 1.0)


def winner_assigned(x, g, kernel, stride) -> torch.Tensor:
    """What a loop over the windows that *assigns* each gradient to its winner gives."""
    n, channels, height, width = x.shape
    cols, (_, grid_width) = pool_windows(x, kernel, stride)
    winners = cols.argmax(2).reshape(n * channels, -1)
    g_flat = g.reshape(n * channels, -1)
    dx = g.new_zeros(n * channels, height * width)
    for window in range(winners.shape[1]):
        top, left = (window // grid_width) * stride, (window % grid_width) * stride
        row, column = top + winners[:, window] // kernel, left + winners[:, window] % kernel
        dx.scatter_(1, (row * width + column)[:, None], g_flat[:, window : window + 1])
    return dx.reshape(x.shape)


def pool_mistakes(x, g, kernel, stride):
    """The usual wrong ways to route max-pool's gradient, computed on this case."""
    cols, _ = pool_windows(x, kernel, stride)
    tied = (cols == cols.max(2, keepdim=True).values).to(cols.dtype)
    last = first_max(cols.flip(2)).flip(2)
    assigned = winner_assigned(x, g, kernel, stride)
    return (
        Mistake(pool_backward_by(tied, x, g, kernel, stride), "every tied maximum got the "
                "window's gradient: it goes to one input only, the first largest of the window "
                "(row by row), as torch does"),
        Mistake(pool_backward_by(tied / tied.sum(2, keepdim=True), x, g, kernel, stride),
                "the gradient was shared between tied maxima: torch gives all of it to the "
                "first largest input of the window"),
        Mistake(pool_backward_by(last, x, g, kernel, stride), "a tie went to the last largest "
                "input of its window: torch's rule is the first (row by row)"),
        Mistake(pool_backward_by(torch.full_like(cols, 1 / kernel**2), x, g, kernel, stride),
                "that is average pooling's backward, the gradient spread over the window: "
                "only the largest input affected the output"),
        Mistake(assigned, "where windows overlap, an input that won two windows kept only one "
                "window's gradient: add them up"),
        missing_chain_factor(pool_backward_by(first_max(cols), x, torch.ones_like(g), kernel,
                                              stride)),
    )  # fmt: skip


# (N, C, H, W), kernel, stride, small integers (ties) or not: stride < kernel overlaps windows.
POOL_CASES = [
    ((1, 1, 4, 4), 2, 2, True),
    ((2, 2, 6, 6), 2, 2, False),
    ((1, 2, 5, 5), 3, 2, True),
    ((2, 1, 4, 5), 2, 1, True),
    ((1, 3, 7, 6), 3, 3, True),
]


@exercise(
    "maxpool_backward",
    lesson=16,
    title="max-pool's backward, with tied windows",
    hints=(
        "Each output of max-pooling is one input of its window, the largest, so its gradient "
        "goes to that input alone and to nothing else of the window. When several inputs tie "
        "for the largest, torch sends it to the first of them (reading the window row by "
        "row). Windows can overlap (stride < kernel): an input that wins two windows gets "
        "both gradients.",
        "Unfold x (channels into the batch) to see every window as a column; argmax along the "
        "window finds the first largest entry. Build a column of zeros with that window's "
        "gradient at the winner, then fold the columns back onto the image: fold adds where "
        "windows overlap.",
    ),
)
def check_maxpool_backward(check: Check, max_pool_backward) -> str:
    """``max_pool_backward(x, g, kernel_size, stride)`` -> dx for y = max_pool2d(x, k, stride)."""
    generator = torch.Generator().manual_seed(161)
    for shape, kernel, stride, ties in POOL_CASES:
        x = draw(generator, *shape)
        if ties:
            x = torch.randint(0, 3, shape, generator=generator).double()
        cols, grid = pool_windows(x, kernel, stride)
        g = draw(generator, shape[0], shape[1], *grid)
        want = pool_backward_by(first_max(cols), x, g, kernel, stride)
        tied = "with ties" if ties else "without ties"
        check.case = f"x of shape {shape} ({tied}), kernel {kernel}, stride {stride}"
        received = check.call(
            max_pool_backward, x, g, kernel, stride, names=("x", "g", "kernel_size", "stride")
        )
        check.expect("dx", want, received, mistakes=pool_mistakes(x, g, kernel, stride))
    return f"right on {len(POOL_CASES)} inputs, tied and overlapping windows included"
