# Targets named after what people do. Every target uses the project's own .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

$(PY):
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[dev]'

.PHONY: setup run test e2e-up lint asl viewer bench synth deploy local-up local-deploy
setup: $(PY)                       ## create .venv and install everything
run: $(PY)                         ## two sagas on the embedded stack, histories and data printed
	$(PY) -m stepsaga run
test: $(PY)                        ## the whole suite (embedded stack, no AWS account needed)
	$(PY) -m pytest -n auto --dist loadfile
e2e-up: $(PY)                      ## the HTTP e2e suite against `stepsaga up` (the running one, else its own)
	$(PY) -m pytest tests/e2e/test_http_sagas.py --target up
lint: $(PY)                        ## ruff, the generated-files check, import contracts, mypy
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(PY) -m statemachines --check && $(VENV)/bin/lint-imports && $(VENV)/bin/mypy
asl: $(PY)                         ## regenerate statemachines/asl/*.asl.json and docs/diagrams from the declarations
	$(PY) -m statemachines
viewer: $(PY)                      ## the local execution viewer on 127.0.0.1:8080
	$(PY) -m stepsaga viewer --port 8080
bench: $(PY)                       ## latency, saga length, throughput, test loop, scale, vs the durable peer, CPU by layer, collector, cost, cold start
	$(PY) -m bench.latency --png docs/latency.png && $(PY) -m bench.orchestration && $(PY) -m bench.testloop && $(PY) -m bench.scale && $(PY) -m bench.versus --png docs/versus.png && $(PY) -m bench.where && $(PY) -m bench.collector && $(PY) -m stepsaga cost && $(PY) -m bench.coldstart
synth: $(PY)                       ## cdk synth (needs the CDK CLI: npx aws-cdk)
	npx --yes aws-cdk@2 synth
deploy: $(PY)                      ## cdk deploy to the current AWS account
	npx --yes aws-cdk@2 deploy
local-up:                          ## LocalStack in Docker (needs a Docker engine)
	docker compose -f localstack-compose.yml up -d
local-deploy: $(PY)                ## deploy to LocalStack with cdklocal
	AWS_ENVAR_ALLOWLIST=AWS_REGION,AWS_DEFAULT_REGION npx --yes -p aws-cdk@2 -p aws-cdk-local@3 cdklocal bootstrap && \
	AWS_ENVAR_ALLOWLIST=AWS_REGION,AWS_DEFAULT_REGION npx --yes -p aws-cdk@2 -p aws-cdk-local@3 cdklocal deploy --require-approval never -c stepsaga:allowFaultInjection=true
