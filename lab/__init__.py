"""lab: the test rig and the namespace lab (imported lazily by `fabric lab`)."""
