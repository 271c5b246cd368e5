"""Neural-network modules, initialisers and layers, built on minigrad Variables."""
