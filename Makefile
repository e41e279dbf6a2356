.PHONY: run test setup
run:   ## set up and run the whole loop on embedded defaults
	scripts/run.sh
test:  ## set up and run lint, type checks and the whole test suite
	scripts/test.sh
setup:
	scripts/setup.sh
