"""The legacy TDI side: a buffering transport device with ClientEventSendPossible (CONTRACTS E).

``transport`` is the device (per-connection or shared send buffers draining into TCP flows),
``api`` the WDK-shaped client surface (TdiBuildSend, TdiBuildSetEventHandler and the mock's
stand-in for opening a connection), ``rules`` the client obligations the mock checks and
``choices`` what the mock decides where the TDI documentation is silent.
"""
