"""What every test folder needs."""

import signal

# Tests stop their children with SIGINT, as Ctrl-C in a terminal does. A shell that starts a job in
# the background without job control (`nohup ... &`, some CI runners) makes it ignore SIGINT, and
# children inherit that: `sam3ctl watch` and the fleet tool then never see the Ctrl-C their tests
# send. Catching SIGINT here gives every child the default disposition back.
signal.signal(signal.SIGINT, signal.default_int_handler)
