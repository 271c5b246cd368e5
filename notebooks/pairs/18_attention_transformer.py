# %% [markdown]
# # Lesson 18: attention and a small transformer
#
# A transformer is a stack of two ideas you already know how to differentiate: a matrix
# product and a softmax. In **attention**, every position of a sequence computes a
# softmax over how well its *query* matches the *keys* of the positions it may see, and
# takes the weighted mean of their *values*. In this lesson you derive the backward of
# the softmax, then of a whole causal self-attention (dQ, dK and dV), check both against
# the closed forms, and then train a small character-level transformer, written with
# minigrad's modules, on two plays of Shakespeare, and let it write.
#
# The plan:
#
# 1. softmax's backward, by hand (an exercise);
# 2. attention, forward and backward (an exercise);
# 3. the text, and the score to beat: a model that knows only how common each letter is;
# 4. the transformer, its tape in the TapeViewer (one cluster per module), training
#    watched by GradientFlow, and what it writes.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises, nn
from widgets import GradientFlow, TapeViewer, draw_tape

_ = torch.manual_seed(0)

# %% [markdown]
# ## Softmax's backward
#
# $y = \mathrm{softmax}(x)$ along a row: $y_i = e^{x_i} / \sum_j e^{x_j}$. Unlike ReLU or
# tanh, softmax is not element-wise: every $y_i$ shares the denominator, so moving one
# $x_j$ moves *every* $y_i$ of its row. Its Jacobian $\partial y_i / \partial x_j$ is a
# full $C \times C$ matrix per row, and the backward is the vector-Jacobian product
# $\partial L/\partial x_j = \sum_i g_i \, \partial y_i / \partial x_j$, with
# $g = \partial L / \partial y$. Building that matrix would cost $C^2$ numbers per row;
# the trick is that the sum collapses into something that costs $C$.
#
# ### Exercise: softmax_backward
#
# Write `softmax_backward(y, g)`: given the softmax's output `y` (softmax along the last
# dimension, any number of leading dimensions) and `g`, return $\partial L/\partial x$.
# Work out $\partial y_i/\partial x_j$ for $i = j$ and for $i \ne j$ on paper first. The
# check tries rows where some weights are exactly 0 (masked, as attention's are) and rows
# from scores near ±300, where the softmax is one-hot.

# %% tags=["exercise"]
# EXERCISE softmax_backward
def softmax_backward(y, g):
    """dL/dx for y = softmax(x, dim=-1), given g = dL/dy (both shaped like x)."""
    # Your code here: replace the line below.
    raise NotImplementedError("write softmax_backward")


# %% tags=["check"]
# CHECK softmax_backward
passed = exercises.check_softmax_backward(softmax_backward)

# %% [markdown]
# ## Attention
#
# For one head, with queries $Q$, keys $K$ and values $V$ of shape $(T, d)$ (one row per
# position):
#
# $$S = \frac{Q K^\top}{\sqrt d}, \qquad P = \mathrm{softmax}(S + M) \text{ by rows},
# \qquad O = P V.$$
#
# $S_{ij}$ says how well query $i$ matches key $j$; $P_{ij}$ is how much of value $j$
# goes into output $i$. The $1/\sqrt d$ keeps the scores of random vectors at a variance
# of about 1 whatever $d$ is; without it a wide head starts with a saturated, one-hot
# softmax, whose gradient is almost 0 everywhere (the check's rows from scores near ±300
# are such rows: work out what your formula gives for a one-hot y). A
# language model predicts the next character, so position $i$ may not look at positions
# after it: the **causal mask** $M$ is $-\infty$ above the diagonal, and those weights are
# exactly 0.
#
# Here it is with minigrad's ops, on a short sequence, with the weights drawn. Each row
# is one query; the upper triangle is the masked future.

# %%
def causal_attention(q, k, v):
    """O and P of one causal attention head, written out with minigrad's ops."""
    length, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    future = torch.ones(length, length, dtype=torch.bool).triu(1)
    weights = mg.softmax(scores.masked_fill(future, float("-inf")), -1)
    return weights @ v, weights


q, k, v = (mg.tensor(torch.randn(6, 4), requires_grad=True) for _ in range(3))
out, weights = causal_attention(q, k, v)
fig, ax = plt.subplots(figsize=(3.2, 3))
ax.imshow(weights.value.detach(), cmap="Blues", vmin=0, vmax=1)
ax.set_xlabel("key position j")
ax.set_ylabel("query position i")
ax.set_title("attention weights P")
plt.show()
print("each row sums to 1:", [round(float(s), 6) for s in weights.value.sum(-1)])

# %% [markdown]
# ### Exercise: attention's backward, dQ, dK and dV
#
# Now go back through the three lines above. Write `attention_backward(q, k, v, p, g)`:
# given the inputs, the weights `p` that forward computed and $G = \partial L/\partial O$,
# return `(dq, dk, dv)`. Each step is one you know: a matrix product (lesson 3), a
# softmax (what your function above computes), another matrix product with a constant. The
# mask needs no code of its own; think about why. The check tries one head and batches of
# heads `(B, H, T, d)`, and checks dV first, then dQ, then dK, so it names the first one
# that is wrong.

# %% tags=["exercise"]
# EXERCISE attention_backward
def attention_backward(q, k, v, p, g):
    """(dL/dq, dL/dk, dL/dv) for O = P V, P = softmax(q k^T / sqrt(d) + causal mask), g = dL/dO."""
    # Your code here: replace the line below.
    raise NotImplementedError("write attention_backward")


# %% tags=["check"]
# CHECK attention_backward
passed = exercises.check_attention_backward(attention_backward)

# %% [markdown]
# Your backward is the backward of `mg.scaled_dot_product_attention`, the op that the
# transformer below uses (it runs torch's fused attention kernels on the CPU, the same
# maths in one pass). Once your check passes, this cell compares the two on four heads:

# %%
if passed:
    shape = (2, 4, 7, 8)  # (batch, heads, positions, features per head)
    q, k, v = (mg.tensor(torch.randn(shape, dtype=torch.float64), requires_grad=True)
               for _ in range(3))  # fmt: skip
    g = torch.randn(shape, dtype=torch.float64)
    mg.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)
    _, p = causal_attention(q.value, k.value, v.value)
    yours = attention_backward(q.value, k.value, v.value, p.value, g)
    for name, mine, op in zip(("dq", "dk", "dv"), yours, (q.grad, k.grad, v.grad)):
        print(f"{name}: largest difference from the op's {float((mine - op).abs().max()):.1e}")
else:
    print("(runs once attention_backward passes its check)")

# %% [markdown]
# ## The text, and the score to beat
#
# Two plays ship with minigrad, *Macbeth* and *Julius Caesar* (public domain; see
# `minigrad/data/SHAKESPEARE_LICENSE.txt`). A character-level model reads the text as a
# sequence of ids, one per character, and learns $p(\text{next character} \mid
# \text{the characters before})$. We hold out the last 10% to measure it.
#
# Its loss is the cross-entropy in nats per character. Two baselines tell what a number
# means: guessing uniformly among the characters costs $\log C$; knowing only how
# *common* each character is (the **unigram** model, its frequency in the training text)
# costs the cross-entropy of those frequencies on the held-out text. A model that learned
# anything about *context* must beat the unigram model.

# %%
text = mg.data.load_shakespeare()
vocab = mg.data.CharVocabulary(text)
train_ids, validation_ids = mg.data.split_text(vocab.encode(text), validation_fraction=0.1)
print(f"{len(text):,} characters, {len(vocab)} distinct; "
      f"{len(train_ids):,} to train on, {len(validation_ids):,} held out")  # fmt: skip
print(repr(text[2000:2160]))

counts = torch.bincount(train_ids, minlength=len(vocab)).double()
unigram = -torch.log(counts / counts.sum())[validation_ids].mean().item()
print(f"uniform guess: {math.log(len(vocab)):.3f} nats per character")
print(f"unigram baseline: {unigram:.3f} nats per character")

# %% [markdown]
# ## The model
#
# A small GPT: each character id looks up a vector (`nn.Embedding`), each position adds
# one of its own, two `nn.TransformerBlock` s mix the positions (causal attention with 4
# heads, then an MLP with GELU, each in a residual connection after a `LayerNorm`), and a
# last `LayerNorm` and `Linear` give one score per character for what comes next, at
# every position at once.

# %%
BLOCK, WIDTH, HEADS, LAYERS = 32, 64, 4, 2


class CharTransformer(nn.Module):
    """Next-character scores (B, T, vocabulary) for ids (B, T), T <= BLOCK."""

    def __init__(self, vocabulary: int):
        super().__init__()
        self.tokens = nn.Embedding(vocabulary, WIDTH)
        self.positions = nn.Embedding(BLOCK, WIDTH)
        self.blocks = nn.Sequential(*[nn.TransformerBlock(WIDTH, HEADS) for _ in range(LAYERS)])
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, vocabulary)

    def forward(self, ids):
        h = self.tokens(ids) + self.positions(torch.arange(ids.shape[-1]))
        return self.head(self.norm(self.blocks(h)))


def loss_of(model, x, y):
    logits = model(x)
    return mg.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))


tape = mg.Context(name="transformer")  # the model's own tape: its ops record there
with tape:
    model = CharTransformer(len(vocab))
print(f"{model.parameter_count():,} parameters")
print(model)

# %% [markdown]
# ## Its tape, module by module
#
# One forward pass of the model records about fifty ops. `mg.module_scopes(model)` notes
# which module recorded each one, so the TapeViewer can group them: a cluster per module,
# nested as the modules are (`blocks.0` holds `blocks.0.self_attn`, which holds its
# `out_proj`). We keep every value on the model's tape for this one short sequence, so the
# viewer can show them; step it forward, then backward.

# %%
tape.keep_outputs = True  # keep every value for the viewer (only for this one pass)
x, y = mg.data.random_blocks(train_ids, 8, 1, generator=0)
with mg.module_scopes(model) as scopes:
    small_loss = loss_of(model, x, y)
tape.keep_outputs = False
viewer = TapeViewer(small_loss, params=model, modules=scopes)
print(f"{len(viewer.records)} ops; {len(scopes)} of them inside a module")
viewer

# %% [markdown]
# A longer tape folds its beginning into one node, so that even a deep model draws in a
# second; here only the last 20 ops are drawn:

# %%
draw_tape(small_loss, params=model, modules=scopes, max_nodes=20)

# %%
tape.clear()  # this tape was for looking at: drop it (and what its gates saved)

# %% [markdown]
# ## Training
#
# Each step reads 32 random blocks of 32 characters (so 1,024 predictions, from contexts
# of 1 to 32 characters) and takes one AdamW step. `GradientFlow` records the gradient
# of every weight matrix at every step (the biases and LayerNorm's scales are left out,
# so that the names stay readable).

# %%
STEPS, BATCH = 400, 32
optimizer = mg.optim.AdamW(model.parameters(), lr=6e-3, weight_decay=0.01)
matrices = {name: p for name, p in model.named_parameters() if p.ndim == 2}
flow = GradientFlow(matrices, every=STEPS)
generator = torch.Generator().manual_seed(1)
losses = []
start = time.perf_counter()
for step in range(STEPS):
    x, y = mg.data.random_blocks(train_ids, BLOCK, BATCH, generator)
    loss = loss_of(model, x, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    flow.record(matrices)
    losses.append(loss.item())
seconds = time.perf_counter() - start
print(f"{STEPS} steps in {seconds:.1f} s; training loss {losses[0]:.2f} -> {losses[-1]:.2f}")

# %%
validation_x, validation_y = mg.data.blocks(validation_ids, BLOCK)
with mg.no_grad():
    validation = loss_of(model, validation_x, validation_y).item()
print(f"validation loss: {validation:.3f} nats per character "
      f"(unigram baseline {unigram:.3f}, uniform {math.log(len(vocab)):.3f})")  # fmt: skip

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(losses, label="training batches", lw=0.8)
ax.axhline(unigram, color="grey", ls="--", label="unigram baseline")
ax.axhline(validation, color="tab:red", label="validation, after training")
ax.set_xlabel("step")
ax.set_ylabel("nats per character")
ax.legend()
plt.show()

# %% [markdown]
# The model beats the unigram baseline by a wide margin: it has learned which letters
# follow which, whole short words, and where lines break. In the gradient flow every
# weight matrix, the attention and MLP weights of both blocks among them, keeps a gradient
# within about an order of magnitude of the others from the first step to the last: none
# is left behind.

# %%
flow

# %% [markdown]
# ## What a head looks at
#
# The weights of the first block's four heads on a short line (each panel: queries down,
# keys across; the empty upper triangle is the future no query may see). The heads have
# learned different jobs: one looks almost only at the character itself, others also at
# the one or two characters before it, and one spreads its weight over the word so far.

# %%
line = "MACBETH.\nWhat is the night?"
ids = vocab.encode(line).unsqueeze(0)
with mg.no_grad():
    h = model.tokens(ids) + model.positions(torch.arange(ids.shape[1]))
    block = model.blocks[0]
    normed = block.norm1(h)
    heads = block.self_attn.attention_weights(normed)  # (batch, heads, queries, keys)
fig, axes = plt.subplots(1, HEADS, figsize=(12, 3.4))
labels = [repr(c)[1:-1] for c in line]
for head, ax in enumerate(axes):
    ax.imshow(heads.value[0, head], cmap="Blues", vmin=0, vmax=1)
    ax.set_title(f"head {head}")
    ax.set_xticks(range(len(line)), labels, fontsize=6)
    ax.set_yticks(range(len(line)), labels, fontsize=6)
plt.show()

# %% [markdown]
# ## What it writes
#
# Sampling: feed the last 32 characters, turn the scores at the last position into
# probabilities (divided by a *temperature* below 1 to sharpen them), draw the next
# character, append it, repeat.

# %%
def sample(model, start: str, length: int, temperature: float = 0.8, seed: int = 0):
    drawn = torch.Generator().manual_seed(seed)
    ids = vocab.encode(start).tolist()
    with mg.no_grad():
        for _ in range(length):
            context = torch.tensor([ids[-BLOCK:]])
            scores = model(context).value[0, -1] / temperature
            ids.append(int(torch.multinomial(torch.softmax(scores, -1), 1, generator=drawn)))
    return vocab.decode(ids)


print(sample(model, "MACBETH.\n", 400))

# %% [markdown]
# Not Shakespeare, but the shape of a play: speakers' names in capitals followed by a
# full stop, lines of verse, English-looking words. Training longer, on more text, with a
# wider model and a longer block, takes the same code a long way further.
#
# **What to remember.**
#
# * Softmax's backward is $y \odot (g - \langle g, y\rangle)$ row by row: the Jacobian is
#   never built.
# * Attention's backward is two matrix products, a softmax backward and two more matrix
#   products, each gradient shaped like its value; the causal mask needs no backward.
# * `mg.module_scopes(model)` lets the TapeViewer and `draw_tape` show a model's tape one
#   module at a time.

# %% [markdown]
# **Next:** [Lesson 19: memory](19_memory.ipynb) · **Previous:** [Lesson 17: recurrent networks and backprop through time](17_rnn_bptt.ipynb) · [Start here](00_start_here.ipynb)
