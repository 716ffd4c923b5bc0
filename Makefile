# The two commands of the README. Each installs what it needs first (scripts/setup.sh).
.PHONY: demo test setup bench
setup:
	bash scripts/setup.sh
demo: setup
	npm run --silent demo
test: setup
	npm test
bench: setup
	npm run --silent bench
