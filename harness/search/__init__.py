"""``mcutrain search``: contribution analysis, the Fisher criterion and an evolutionary search for
a sparse-update scheme under a peak-SRAM budget priced by the real memory planner."""
