from raybench.cli._main import entry

entry()
