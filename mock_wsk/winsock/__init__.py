"""User-mode Winsock on the same flow model (CONTRACTS F.25-28, seed SIO_IDEAL_SEND_BACKLOG_CHANGE).

``process`` starts an application stub (``main(argv)``) as a user process at PASSIVE_LEVEL;
``win32`` holds the kernel32 waits and events it uses; ``stack`` is the AFD/TCP side (sockets,
dynamic send buffering, the ideal-send-backlog notifications); ``ws2_32`` the Winsock API with
its Win32 names; ``rules`` the application obligations the mock checks.
"""
