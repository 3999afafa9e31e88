"""What the tests share: a real Mosquitto, a loopback proxy, sample codes,
signed-code tools, device harnesses, waiting, paths."""
