"""Guarded: a dask Client whose tasks call a helper module that main() configured (a run
folder named by uuid, random weights). Under fork the worker processes see the configured
module; under spawn and forkserver they import it afresh and see its defaults."""

from dask.distributed import Client

try:
    from field import dask_helpers  # python -m field.dask_values
except ImportError:
    import dask_helpers  # python field/dask_values.py


def main():
    dask_helpers.configure()
    with Client(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as client:
        seen = client.gather(client.map(dask_helpers.work, range(4)))
    print("workers see the run:", all(run == dask_helpers.RUN for run, _ in seen))
    print("workers see the weights:", all(weights == dask_helpers.WEIGHTS for _, weights in seen))


if __name__ == "__main__":
    main()
