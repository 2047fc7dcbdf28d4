"""modelyard.automation: retraining that can be re-run as of any date (``retrain``), retrain
policies and their jobs (``policies``, ``store``), the closed loop a job runs (``loop``) and the
scheduler process that runs them (``scheduler``)."""
