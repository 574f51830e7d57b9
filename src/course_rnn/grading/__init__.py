"""Instructor grading around nbgrader: ``course-rnn grade`` and the hardened executor.

The processes of one run, and which side of the trust boundary each is on::

    course-rnn grade ─ pipeline (the coordinator: owns the gradebook, writes every output)
        └─ backend: N threads here (LocalBackend), or Dask workers (cluster.DaskBackend)
            └─ worker.grade_student (one GradeTask in, one StudentOutcome out)
                └─ executor.grade_notebook (merge, then one job for the warm runner)
                    └─ runner --serve (python -I, own session, memory limit, kept
                       across students: imports torch once, runs the TEST cells)
                        ⇅ plain data only (remote: no pickle, sizes checked on decode)
                       kernel (bubblewrap sandbox, the runner's own uid, rlimits: runs
                       STUDENT code; a new one for every notebook, forked from the
                       runner's zygote, which imported numpy and torch once)

Trusted (instructor code and data; never imports or runs student code):
``cli`` (the command), ``course`` (the course folder and its nbgrader config),
``pipeline`` (a class of submissions, in parallel), ``cluster`` (the same on a Dask
cluster), ``results`` (the plain data between coordinator and graders), ``worker`` (one
student), ``executor`` (one notebook, and the
warm runner process), ``merge`` (rebuilds a submission from the source notebook),
``runner`` (judges test cells), ``sandbox`` (starts the kernel in bubblewrap),
``zygote`` (the pre-imported sandbox that forks each kernel), ``limits``
(the caps), ``gradebook`` (nbgrader's database and export), ``late`` (due dates and
penalties), ``feedback`` (per-student HTML), ``report`` (the class report), ``markup``
(escaping and sanitising student text for pages, Markdown and the terminal).

Untrusted (runs inside the sandbox, with the student's code): ``kernel``.
Both sides: ``remote`` (the plain-data protocol; the trusted side never believes the
kernel's half). Everything read from a submission (files, names, JSON, outputs,
messages) is data to check, escape and cap: see docs/grading-security.md.
"""
