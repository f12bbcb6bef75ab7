"""One state machine per bay: what the dock believes about the recorder in each slot."""
