"""The lessons' checked exercises: checks that say what kind of mistake, hints in tiers, progress.

For a learner::

    from minigrad import exercises
    passed = exercises.check_matmul_grad(matmul_backward)   # PASS, or FAIL with a diagnosis
    exercises.hint("matmul_grad")                           # the next hint: idea, then formula
    exercises.progress()                                    # which exercises pass, by lesson

A FAIL names the value, the first wrong element, the expected and the
received number, and the kind of mistake ("exactly 2x the expected", "the
transpose", "the local derivative without grad_output", ...). It never prints
the answer; the last hint tier says how to load the solution
(``%load solutions/<id>.py``).

Reading order: ``diagnoses`` (kinds of mistakes) -> ``compare`` (what is
wrong, where) -> ``registry`` (exercises and hints) -> ``outcomes`` (progress) ->
``checking`` (running a check) -> ``chain`` (a chain of gradients, checked in
backward order) -> ``lesson01`` ... ``lesson20``, ``lesson21``, ``lesson22``.

How to add an exercise
======================

1. **The gap.** In the lesson's ``.py`` file (``notebooks/pairs/``), a code
   cell tagged ``exercise`` that starts with ``# EXERCISE <id>``: the
   signature, a docstring, and ``raise NotImplementedError(...)`` where the
   learner's code goes. Then a cell tagged ``check`` that starts with
   ``# CHECK <id>`` and calls ``passed = exercises.check_<id>(<the learner's
   name>)``. Prose before the gap gives the idea; a formula that *is* the
   answer comes only after the check, and a cell that reveals the answer runs
   only ``if passed:``.
2. **The check**, in ``minigrad/exercises/lessonNN.py``, decorated with
   :func:`exercise`::

       @exercise("my_id", lesson=N, title="...", hints=("the idea", "the formula"))
       def check_my_id(check: Check, learner_fn) -> str:
           generator = torch.Generator().manual_seed(N)
           for case in cases:                       # several seeds, shapes, magnitudes
               x = draw(generator, 3, 4)
               want = closed_form(x)                # expected first, plain torch ops
               got = check.call(learner_fn, x, names=("x",))   # on copies
               check.expect("dL/dx", want, got, mistakes=(...,), factors={2: "why"})
           return "what PASS verified"

   Draw inputs so that a hard-coded answer fails: more than one case, and
   extreme magnitudes where stability matters. Never use torch.autograd here
   (minigrad does not): the expected values are closed forms. Re-export the
   check in this file's imports and ``__all__``.
3. **Diagnoses.** ``check.expect`` already recognises a constant factor, a
   sign flip, a transpose, an all-zero answer, a non-finite one and a wrong
   shape. For the mistakes typical of *this* exercise, compute what the wrong
   method gives on the same inputs and pass it as a :class:`Mistake` (or one of
   the ready ones in :mod:`.diagnoses`: ``missing_chain_factor``,
   ``overwritten``, ``walked_forward``, ``one_sided``, ``wrong_broadcast_dims``).
   ``factors={2: "..."}`` words a factor's likely cause. A diagnosis says what
   kind of mistake and where to look, never the code of the fix.
4. **Hint tiers**: the idea first, then the formula in maths or words, never
   the answer's code. The last tier, added for every exercise, says
   ``%load solutions/<id>.py``.
5. **The solution**: ``notebooks/solutions/<id>.py``, the whole replacement
   for the exercise cell, starting with ``# EXERCISE <id>``. It keeps every
   line of the exercise cell (signature, docstring) except the gap's own
   lines (``# Your code here...``, ``raise NotImplementedError(...)``,
   ``return None``): nbgrader's student version is made by cutting the
   solution out again (``minigrad/grading.py``; a test checks each solution).
6. **The tests**, in ``tests/exercises/test_lessonNN.py`` (helpers in
   ``tests/exercises/helpers.py``): the solution and at least one other right
   formulation pass (use torch.autograd as the oracle where it applies); the
   untouched gap fails without printing any line of the solution, nor does
   any hint tier; at least two recorded wrong answers fail with the expected
   diagnosis in the message.

``tests/test_notebooks.py`` then runs the lesson as committed (every check
FAILs) and with the solutions put in (every check PASSes), and
``tests/test_grading.py`` grades it with nbgrader.
"""

from minigrad.exercises.checking import Check, CheckResult, ExerciseFailed, exercise, grading
from minigrad.exercises.diagnoses import Mistake
from minigrad.exercises.outcomes import progress
from minigrad.exercises.registry import EXERCISES, hint, reset_hints

# One module per lesson, in course order; each registers its exercises when imported.
from minigrad.exercises.lesson00 import check_warm_up
from minigrad.exercises.lesson01 import check_expression_grads, check_tanh_neuron
from minigrad.exercises.lesson02 import check_reverse_walk, check_topological_order, neuron_tape
from minigrad.exercises.lesson03 import (
    check_linear_backward,
    check_matmul_grad,
    check_sum_to_shape,
)
from minigrad.exercises.lesson04 import (
    check_divide_gate,
    check_logsumexp_gate,
    check_softplus_gate,
)
from minigrad.exercises.lesson05 import (
    Softsign,
    Swish,
    check_central_difference,
    check_kink_mask,
    check_relative_error,
    check_wrong_node,
    mystery_forward,
    mystery_inputs,
    mystery_model,
)
from minigrad.exercises.lesson06 import check_conv_fans, check_deep_init
from minigrad.exercises.lesson07 import check_adam_step, check_momentum_step
from minigrad.exercises.lesson08 import check_epoch_loop, check_warmup_cosine
from minigrad.exercises.lesson09 import check_evaluate, check_train_step
from minigrad.exercises.lesson10 import check_exact_resume, check_inverted_dropout
from minigrad.exercises.lesson11 import check_one_hot, check_standardize
from minigrad.exercises.lesson12 import (
    broken_model,
    check_clip_grad_norm,
    check_dead_fraction,
    check_first_nonfinite,
)
from minigrad.exercises.lesson13 import check_accumulate, check_average_shards

# Part 2 of the course (lessons 14 to 17).
from minigrad.exercises.lesson14 import (
    check_cross_entropy_grad,
    check_stable_log_softmax,
    check_staged_backward,
    compare_stages,
    init_mlp,
    mlp_on_tape,
    mlp_stages,
    tape_gradients,
)
from minigrad.exercises.lesson15 import (
    check_batchnorm_backward,
    check_layernorm_backward,
    check_running_stats,
)
from minigrad.exercises.lesson16 import (
    check_conv_backward,
    check_conv_unfold,
    check_maxpool_backward,
)
from minigrad.exercises.lesson17 import (
    check_bptt,
    check_rnn_step_backward,
    check_truncated_bptt,
    gradient_through_time,
    gru_cell,
    gru_params,
    rnn_cell,
    rnn_forward,
    rnn_params,
    step_shares,
)

# Lesson 18: attention and a small transformer.
from minigrad.exercises.lesson18 import check_attention_backward, check_softmax_backward

# Lessons 19 and 20: memory and precision.
from minigrad.exercises.lesson19 import (
    chain_loss,
    chain_params,
    check_checkpoint_chain,
    check_tape_bytes,
    tanh_layers,
)
from minigrad.exercises.lesson20 import check_master_step, check_scale_update, check_spacing

# Lessons 21 and 22: forward mode and higher order.
from minigrad.exercises.lesson21 import check_jacobian_by_jvps, check_jvp_rules
from minigrad.exercises.lesson22 import check_hvp_by_hand, check_newton_step, rosenbrock

__all__ = [
    "Check",
    "CheckResult",
    "EXERCISES",
    "ExerciseFailed",
    "Mistake",
    "Softsign",
    "Swish",
    "check_central_difference",
    "check_conv_fans",
    "check_deep_init",
    "check_divide_gate",
    "check_expression_grads",
    "check_kink_mask",
    "check_linear_backward",
    "check_logsumexp_gate",
    "check_matmul_grad",
    "check_relative_error",
    "check_reverse_walk",
    "check_softplus_gate",
    "check_sum_to_shape",
    "check_tanh_neuron",
    "check_topological_order",
    "check_warm_up",
    "check_wrong_node",
    "exercise",
    "grading",
    "hint",
    "mystery_forward",
    "mystery_inputs",
    "mystery_model",
    "neuron_tape",
    "progress",
    "reset_hints",
    # lessons 7 to 12
    "check_adam_step",
    "check_momentum_step",
    "check_epoch_loop",
    "check_warmup_cosine",
    "check_evaluate",
    "check_train_step",
    "check_exact_resume",
    "check_inverted_dropout",
    "check_one_hot",
    "check_standardize",
    "broken_model",
    "check_clip_grad_norm",
    "check_dead_fraction",
    "check_first_nonfinite",
    # lesson 13
    "check_accumulate",
    "check_average_shards",
    # lessons 14 to 17
    "check_cross_entropy_grad",
    "check_stable_log_softmax",
    "check_staged_backward",
    "compare_stages",
    "init_mlp",
    "mlp_on_tape",
    "mlp_stages",
    "tape_gradients",
    "check_batchnorm_backward",
    "check_layernorm_backward",
    "check_running_stats",
    "check_conv_backward",
    "check_conv_unfold",
    "check_maxpool_backward",
    "check_bptt",
    "check_rnn_step_backward",
    "check_truncated_bptt",
    "gradient_through_time",
    "gru_cell",
    "gru_params",
    "rnn_cell",
    "rnn_forward",
    "rnn_params",
    "step_shares",
    # lesson 18
    "check_attention_backward",
    "check_softmax_backward",
    # lessons 19 and 20
    "chain_loss",
    "chain_params",
    "check_checkpoint_chain",
    "check_tape_bytes",
    "tanh_layers",
    "check_master_step",
    "check_scale_update",
    "check_spacing",
    # lessons 21 and 22
    "check_jvp_rules",
    "check_jacobian_by_jvps",
    "check_hvp_by_hand",
    "check_newton_step",
    "rosenbrock",
]
