"""Where blocks of cells are simulated: in this process (local) or on a Dask cluster."""
