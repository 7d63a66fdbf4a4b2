"""Scenario scripts that run inside a `lab.vm.KernelVm` guest (each a stand-alone program)."""
