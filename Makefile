# The two commands a newcomer needs (see README.md).
.PHONY: demo test clean

demo:   ## set up .venv and run the demo on SQLite (cron + Terraform + a cross-tool trigger)
	bash scripts/demo.sh

test:   ## set up .venv and run every test (starts a real Airflow on 127.0.0.1)
	bash scripts/test.sh

clean:
	rm -rf .venv .demo .airflow-ci build dist *.egg-info
