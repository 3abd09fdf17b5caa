"""`kubectl djangostack`: the day-two commands of a stack's team (status, backup, restore,
releases, manage, logs).

kubectl runs any executable named `kubectl-<name>` on its PATH as `kubectl <name>`; the
package installs this one as `kubectl-djangostack`. `views` turns what the API shows into
tables (pure); `session` is the only module here that talks to the API server; `main` parses
the command line and puts the two together.
"""
