package main

// Every plug type restartinator ships is registered by this import; the
// list is in actuator/drivers.
import _ "github.com/restartinator/restartinator/actuator/drivers"
