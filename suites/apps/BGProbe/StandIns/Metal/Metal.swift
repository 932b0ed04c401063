// Stand-in for the Metal calls the shell makes (MTLDevice.h, MTLCommandQueue.h,
// MTLCommandBuffer.h). No behaviour.

public protocol MTLCommandBuffer: AnyObject {
    func commit()
    func waitUntilCompleted()
    var error: Error? { get }
}

public protocol MTLCommandQueue: AnyObject {
    func makeCommandBuffer() -> MTLCommandBuffer?
}

public protocol MTLDevice: AnyObject {
    func makeCommandQueue() -> MTLCommandQueue?
}

public func MTLCreateSystemDefaultDevice() -> MTLDevice? { fatalError("stand-in") }
