# The two commands a newcomer needs:
#   make demo   set everything up, then run the whole ACT pipeline on the simulated ALOHA
#   make test   set everything up, then run the test suite
.PHONY: setup demo test doctor clean

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

doctor: setup
	bash -c '. scripts/env.sh && act doctor'

clean:
	rm -rf build install log
