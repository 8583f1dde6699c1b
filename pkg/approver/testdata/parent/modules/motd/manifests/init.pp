# Outside the manifest directories: the approver must not read it.
class motd {}
