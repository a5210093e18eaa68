namespace tokenmeter::workload {}
