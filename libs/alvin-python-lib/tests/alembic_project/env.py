from sample_models import Base

from alvin_python_lib.migrations import run_env

run_env(Base.metadata)
