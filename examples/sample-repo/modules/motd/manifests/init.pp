# The message of the day, assembled from motd::line fragments.
class motd {
}
