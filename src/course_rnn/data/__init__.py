"""The data of the course: generated tasks and small real data sets, never downloaded.

One concept per module; everything is seeded and returns numpy arrays:

- :mod:`.adding`     the adding problem (long-range regression)
- :mod:`.copying`    the copy task (memory over a delay) and sequence reversal (seq2seq)
- :mod:`.order`      an order-sensitive toy language task that word counts cannot solve
- :mod:`.vocab`      word and character vocabularies, padding, bag of words
- :mod:`.sunspots`   yearly sunspot numbers 1700-2008 (real time series)
- :mod:`.firstnames` US Census 1990 first names (character corpus)
- :mod:`.digits`     8x8 handwritten digits read row by row (real images)
- :mod:`.dates`      dates as people write them in many languages -> ISO 8601 (seq2seq)
- :mod:`.digit_strings` strings of those digits, gaps, widths and noise varied (reading)
- :mod:`.chorales`   J.S. Bach's four-part chorales as note tokens (music)
- :mod:`.timemachine` H. G. Wells, *The Time Machine* (text for language models)
- :mod:`.batching`   numpy arrays -> shuffled torch mini-batches on a device

Provenance and licence of each real data set are in its module's docstring.
"""

from .adding import BASELINE_MSE, adding_problem
from .batching import batches, fresh_batches, to_tensor
from .chorales import Chorale, from_tokens, load_chorales, split_chorales, to_tokens
from .copying import BOS, EOS, IGNORE_INDEX, PAD, copy_baseline, copy_task, reverse_task
from .dates import CharTokens, date_pairs, date_task, date_vocabularies
from .digit_strings import DigitStrings, digit_pool, digit_strings
from .digits import load_digit_rows
from .firstnames import load_names, split_words
from .order import order_task
from .sunspots import load_sunspots, sliding_windows, time_split
from .timemachine import load_sentences, load_timemachine, preprocess_d2l, split_d2l
from .vocab import CharVocab, Vocab, bag_of_words, pad_sequences

__all__ = [
    "BASELINE_MSE",
    "BOS",
    "EOS",
    "IGNORE_INDEX",
    "PAD",
    "CharTokens",
    "CharVocab",
    "Chorale",
    "DigitStrings",
    "Vocab",
    "adding_problem",
    "bag_of_words",
    "batches",
    "copy_baseline",
    "copy_task",
    "date_pairs",
    "date_task",
    "date_vocabularies",
    "digit_pool",
    "digit_strings",
    "fresh_batches",
    "from_tokens",
    "load_chorales",
    "load_digit_rows",
    "load_names",
    "load_sentences",
    "load_sunspots",
    "load_timemachine",
    "order_task",
    "pad_sequences",
    "preprocess_d2l",
    "reverse_task",
    "sliding_windows",
    "split_chorales",
    "split_d2l",
    "split_words",
    "time_split",
    "to_tensor",
    "to_tokens",
]
