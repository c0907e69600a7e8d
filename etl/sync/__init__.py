"""API sync (python -m etl sync quo|twilio): fetched pages are saved as the files the adapters already read,
then loaded by etl.load.run_load in the same publish that moves the sync state forward."""
