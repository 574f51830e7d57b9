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
- ``grading``   the instructor command line around nbgrader
"""

__version__ = "0.1.0"
