"""What every long-running process shows operators: a metrics server and JSON logs."""
