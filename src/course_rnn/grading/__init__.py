"""Instructor grading around nbgrader: ``course-rnn grade`` and the hardened executor.

Modules: ``cli`` (the command), ``pipeline`` (a class of submissions, in parallel),
``worker`` (one student, in a pool process), ``startup`` (fast worker start),
``submissions`` (folders, zips, student ids), ``gradebook`` (nbgrader's database and
export), ``late`` (due dates and penalties), ``feedback`` (per-student HTML), ``report``
(the class report); ``executor`` grades one notebook in a sandbox.
"""
