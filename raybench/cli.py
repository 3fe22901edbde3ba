def main(argv=None):
    raise SystemExit("raybench: CLI not built yet")
