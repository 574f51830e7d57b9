"""course_rnn: the small package behind the course on recurrent neural networks.

One concept per module:

- ``scratch``   numpy RNN, LSTM and GRU: forward and backward through time
- ``gradcheck`` centered finite differences and relative error
- ``data``      synthetic tasks and small real data sets, never downloaded
- ``models``    torch modules for each RNN type (one-to-many, many-to-one, ...)
- ``train``     a training loop with clipping, history and early stop
- ``analysis``  gradient norms through time, Jacobians, spectral radius
- ``plots``     the figures the book draws more than once
- ``widgets``   ipywidgets explorers
- ``device``    CPU or CUDA
- ``lm``        language models: tokens, n-gram baselines, perplexity, sampling
- ``seq2seq``   encoder-decoder with additive attention, beam search, a self-attention encoder
- ``ctc``       convolution + bidirectional GRU + CTC for strings of digits in an image
- ``music``     note-token models, piano rolls and a numpy synthesiser for the chorales
- ``testing``   the checks that the exercises' test cells call (hints, forbid lists)
- ``check``     ``course-rnn check``: a student's self-check of a notebook
- ``release``   ``course-rnn release``: builds the exercises from their one source
- ``grading``   the instructor command line around nbgrader

Where an exercise is written: once, as ``solutions/_sources/<assignment>.md`` (MyST
Markdown with nbgrader's cell metadata and the assignment's forbid list in its front
matter). ``make exercises`` (``course_rnn.release``) generates the nbgrader source
notebook ``solutions/<assignment>/<assignment>.ipynb`` and the student release in
``exercises/`` from it; edit the ``.md``, never the generated notebooks.
"""

__version__ = "0.1.0"
