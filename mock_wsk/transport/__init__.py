"""Transport models behind the mock WSK provider: pure, deterministic, sans-IO.

``flow`` holds the TCP send-direction flow model (completion times of ``WskSend`` requests and the
ideal send backlog). Nothing here knows about IRPs, IRQL or the machine's clock: the provider owns
time and asks the models what happens next.
"""
