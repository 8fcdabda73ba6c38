# The two commands a newcomer needs:
#   make demo   set everything up, then run the whole ACT pipeline on the simulated ALOHA
#   make test   set everything up, then run the test suite
#   make test-fast   the same without the slow (multi-process, end-to-end) tests
.PHONY: setup demo test test-fast doctor clean

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

test-fast:
	bash scripts/test.sh -m "not slow"

doctor: setup
	bash -c '. scripts/env.sh && act doctor'

clean:
	rm -rf build install log
