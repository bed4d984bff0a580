"""What-if scenarios, sweeps and their local or Dask execution."""
