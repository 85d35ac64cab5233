"""Imported by the fork server, as an entry of its preload list: runs spawnfix's preload.

``spawnfix.forkserver_preload`` puts this module after ``'__main__'`` in the preload list
of a fork server it starts; the fork server imports each entry, and importing this one
imports the modules chosen for it. Nothing else imports this module.
"""

from spawnfix.forkserver_preload import preload_in_fork_server

preload_in_fork_server()
