"""The `act` command line of the ACT suite and the workflows it runs (evaluation, demo,
scripted recording); act_bringup holds the launch files and configs they start nodes from."""
